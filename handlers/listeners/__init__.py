"""Bolt listeners: the slash command, buttons, modals and App Home."""
