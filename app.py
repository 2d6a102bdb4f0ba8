"""The Chalice app: routes come from blueprints in chalicelib.api; Lambda entry points live here."""

from chalice import Chalice

from chalicelib.api import admin, health

app = Chalice(app_name="autofunnel")
app.register_blueprint(health.blueprint)
app.register_blueprint(admin.blueprint)
