"""The UI shell: base layout, navigation, dashboard, account settings."""
