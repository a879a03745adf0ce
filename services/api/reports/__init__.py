"""Reports, exports and imports over GraphQL."""
