FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY events ./events
COPY services ./services
RUN pip install --no-cache-dir .
ENV DISPATCH1310_HTTP=0.0.0.0:8310
ENTRYPOINT ["dispatch1310"]
