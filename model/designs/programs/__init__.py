"""Driver programs: real code paths over kernel objects (``model.driver``), each the fixed version of seeded bugs."""
