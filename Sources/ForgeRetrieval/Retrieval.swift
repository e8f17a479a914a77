// ForgeRetrieval: vector search (exact and HNSW) and the SQLite store of documents, chunks and vectors.
import ForgeCore
