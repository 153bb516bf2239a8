"""Persona users in conversation with a chatbot under test."""
