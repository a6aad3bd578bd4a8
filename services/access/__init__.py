"""Who is asking and what they may see or do: identity map, SubjectAccessReviews, policy."""
