"""dispatch1310 services: common building blocks and one package per service."""
