"""OpenTelemetry traces (OTLP/HTTP, protobuf and JSON) -> the same spans the REST endpoints store."""
