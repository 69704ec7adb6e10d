"""The slash commands teambot registers in Slack (kept light: the manifest needs only this)."""

COMMANDS = ("task", "raci", "milestone", "standup", "retro", "kpi", "digest", "teambot")
