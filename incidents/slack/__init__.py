"""The Slack app wing: the buttons on Slack messages act on incidents. functions.py is the app's Interactivity Request
URL (POST /api/v1/slack/actions: Slack's signature checked, the tap parsed, the answer posted to its response_url);
actions.py is what each button does, for whom."""
