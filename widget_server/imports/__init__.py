"""Past orders and events into a store, counted on the days they happened."""
