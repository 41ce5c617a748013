# expect: DESIGN must be a model.design.Design(...), got dict
DESIGN = {"name": "dict", "ops": {}}
