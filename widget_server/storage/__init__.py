"""Everything kept in Redis: connecting, key names, Lua scripts, stores, catalog cards."""
