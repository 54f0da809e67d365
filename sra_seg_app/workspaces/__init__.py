"""The Studio's workspaces (Label, Blend, Train, Review, Export) and the Which-10 % panel."""
