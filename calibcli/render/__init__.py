"""Renderers: turn an AuditReport into text, JSON or figures. No statistics here."""
