"""The self-service REST API, /api/v1/ (django-ninja): see README, "Self-service API"."""
