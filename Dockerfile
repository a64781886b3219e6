FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY service ./service
COPY worker ./worker
COPY clients ./clients
COPY migrations ./migrations
RUN pip install --no-cache-dir -e ./clients/python -e .
ENV NEURONAL_DATA_DIR=/data
EXPOSE 8000
CMD ["neuronal", "serve", "--host", "0.0.0.0", "--port", "8000", "--no-with-worker"]
