"""Connector Survey: self-assessment survey collection and scoring."""
