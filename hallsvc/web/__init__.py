"""The faces of the hall (issue 7): web pages served by hallsvc itself.

Each page is a static HTML file with its own script under `static/`; pages
talk to the same JSON API as every other client (`/api/v1/...`), with the
bearer token of the person logged in kept in the tab's sessionStorage.
Nothing is loaded from outside the hall's network: every file is part of
the package.
"""
