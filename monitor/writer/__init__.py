"""The write side: item building and bulk loading (the dual writer itself lands here too)."""
