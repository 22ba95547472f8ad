"""The leaderboard: validated result submissions and published reference numbers, rendered as
Markdown, CSV and one self-contained HTML page. ``submit`` checks, ``build`` renders."""
