"""What a persona thinks with, in any domain: memory, reflection, embeddings."""
