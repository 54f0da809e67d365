"""State and rules of the Studio, no widgets: session, undo, tool state, one model per workspace, jobs."""
