"""Push staged requests to HubSpot Engagements v1 / AskElephant v2, exactly once per record."""
