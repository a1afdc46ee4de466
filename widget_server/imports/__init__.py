"""Past orders and events into a store: export formats, and the import that counts them
on their own days."""
