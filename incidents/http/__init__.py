"""What the HTTP functions of every wing share: problem+json answers, JSON in and out (problems.py), and bearer
token validation (auth.py). Knows the domain's errors, never a wing's."""
