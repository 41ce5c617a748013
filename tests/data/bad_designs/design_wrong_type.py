# expect: DESIGN must be a dmabuf_check.model.design.Design(...), got dict
DESIGN = {"name": "dict", "ops": {}}
