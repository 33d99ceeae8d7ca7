"""The RAG tests' session fixtures (real embedder, the course indexed once in a real Chroma), for the API tests."""

from tests.rag.conftest import course_index, embedder  # noqa: F401 - re-exported fixtures
