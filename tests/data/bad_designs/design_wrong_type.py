# expect: DESIGN must be a dmabuf_check.model.design.Design(...) or a dmabuf_check.model.driver.Driver(...), got dict
DESIGN = {"name": "dict", "ops": {}}
