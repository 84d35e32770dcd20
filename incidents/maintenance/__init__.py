"""The maintenance wing: the admin API of announced maintenance windows (functions.py); the rules are in
domain/maintenance.py."""
