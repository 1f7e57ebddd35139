"""Member identities: Firebase Auth sign-in, stored credentials, ID-token refresh."""
