-- The masks removed from the history cannot be restored, and are not needed.
SELECT 1;
