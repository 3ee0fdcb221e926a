"""The request-response patterns of the lab app, one module each, on one broker.

- `uploads`: a simple upload, streamed to disk (`POST /uploads`, `GET /uploads/{id}`);
- `tus`: a resumable upload, tus 1.0.0 core + creation (`/files/`);
- `jobs`: short polling with a handle, and long polling for its end (`/jobs`);
- `topics`: publish, short poll and long poll of a topic in the broker (`/topics/{t}`).

`probe` measures them from the client side (for `lab bench`); `common` holds the few
helpers they share (reading a header, parsing a `wait=` query, refusing a buffered body
past a limit). Each pattern module can be read on its own: its docstring names the spec
sections it follows and the choices it makes.
"""
