"""Who may do what: the studio's roles and the actions each may take, checked in one place."""
