#!/usr/bin/env node
// Starts @vercel/cosmosdb-server (pinned to 1.0.1 in package.json) on 127.0.0.1 for the tests.
//
//   node tests/support/cosmos_server.js [port]     (or COSMOS_EMULATOR_PORT; 0 = any free port)
//
// Prints one line "cosmosdb-server ready https://127.0.0.1:<port>" on stdout once it accepts connections.
//
// Three fixes over the stock CLI, so that the emulator answers like Cosmos DB where our adapter depends on it:
// - keepAlive: the stock server answers `Connection: close`, which costs a TLS handshake (~50 ms) per call.
// - A read of a missing document answers 500 (the handler indexes the missing document before checking it,
//   a TypeError) where Cosmos DB answers 404. We wrap that one handler. routes.js captures the handler when it is
//   first loaded, so the wrapper must be installed before the package index is required.
// - A document's `_etag` is a bare UUID; Cosmos DB's is quoted like an HTTP ETag ("\"0000...\""), and If-Match
//   must repeat it exactly. We quote it, so the adapter can pass `_etag` through unchanged on both.
// - An ORDER BY on several paths needs a composite index on those paths (the query engine refuses the query
//   otherwise, as Cosmos DB does), but Cosmos DB also serves it from an index whose every path has the opposite order
//   (learn.microsoft.com/azure/cosmos-db/index-policy, "Composite indexes") and the engine does not. We teach it that.
"use strict";

const Documents = require("@vercel/cosmosdb-server/lib/account/documents").default;
const Items = require("@vercel/cosmosdb-server/lib/account/items").default;

Documents.prototype._set = function setQuotedEtag(data) {
  const etag = data._etag && !data._etag.startsWith('"') ? `"${data._etag}"` : data._etag;
  return Items.prototype._set.call(this, { ...data, _etag: etag });
};

const readDocument = require("@vercel/cosmosdb-server/lib/handler/read-document");
const partitionHeader = require("@vercel/cosmosdb-server/lib/utils/get-partition-from-header");

const originalRead = readDocument.default;
readDocument.default = (account, req, res, params) => {
  const collection = account.database(params.dbId).collection(params.collId);
  const header = partitionHeader.default(req);
  if (collection.read() && header) {
    const partitionKey = partitionHeader.parsePartitionKey(header, params.docId);
    if (!collection.document(params.docId, partitionKey).read()) {
      res.statusCode = 404;
      return { code: "NotFound", message: "Entity with the specified id does not exist in the system." };
    }
  }
  return originalRead(account, req, res, params);
};

const queryHelpers = require("@zeit/cosmosdb-query/lib/helpers");

const originalSort = queryHelpers.sort;
const opposite = { ascending: "descending", descending: "ascending" };
queryHelpers.sort = (collection, getRid, compositeIndexes, ...orders) => {
  const servable = compositeIndexes && compositeIndexes.flatMap((index) => [
    index, index.map((path) => ({ ...path, order: opposite[path.order] })),
  ]);
  return originalSort(collection, getRid, servable, ...orders);
};

const { createHttpsServer } = require("@vercel/cosmosdb-server");

const port = parseInt(process.argv[2] || process.env.COSMOS_EMULATOR_PORT || "0", 10);
const server = createHttpsServer({ keepAlive: true });
server.listen(port, "127.0.0.1", () => {
  console.log(`cosmosdb-server ready https://127.0.0.1:${server.address().port}`);
});
for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => process.exit(0));
}
