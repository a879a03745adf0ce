"""Authentication: sign-in, tokens, identity providers, platform operators."""
