from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "imprimatur.web"
    label = "web"
