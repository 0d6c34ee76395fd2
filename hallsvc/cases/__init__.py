"""Cases and their working-day time limits (C1–C9). Built in issue 6."""
