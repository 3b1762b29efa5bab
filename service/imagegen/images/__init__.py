"""Input images of edits: recognising, bounding and describing them, and converting masks.

Pure and free of grpc and HTTP, so the servicer, the HTTP door and the SDK validate the same
way before any provider is called. Submodules are imported by name (nothing here), so that
a module needing only `reading` or `operations` does not load Pillow:

    formats     the accepted formats, sniffed from the bytes
    limits      per-model input bounds, as data
    decode      reading one input within its bounds
    validate    every input of an edit at once, each bad field named
    masks       mask conventions, converted pixel for pixel
    operations  the normalised operations and what each needs
    payload     an edit's validated inputs as they travel with a request
    reading     SDK arguments (bytes, paths, files) to bytes
    summary     what logs may say about an input
"""
