"""All SQL: a module per table, `verb_noun(conn, ...)` functions returning Structs."""
