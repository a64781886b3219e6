"""What the service does: datasets and their ingest, training and prediction jobs, trained
models and predictions from them, Hopfield storage and recall, API keys. Functions here take a
database session and the settings they need; the HTTP routes and the CLI call them."""
