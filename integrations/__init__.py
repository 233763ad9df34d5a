"""Adapters for the outside services: one module per vendor, vendor SDKs imported only here."""
