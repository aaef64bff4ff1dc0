"""The student files, one per chapter, with the reference solutions between ``### BEGIN/END SOLUTION`` markers."""
