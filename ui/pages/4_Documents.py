"""Documents page: what the chatbot answers from. Upload a .md/.txt/.pdf, see every indexed
document, remove one. ``/documents`` needs the admin key, typed here and kept for the session only.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from ui.client import ApiError
from ui.common import fetch, page_setup, show_error

client = page_setup("Documents", "📚")
st.title("Documents")
st.caption("The corpus the chat answers from. Changes apply to the next question; re-uploading a file changes nothing.")

admin_key = st.text_input(
    "Admin key", type="password", key="admin_key", help="The API's GENAIOPS_API__ADMIN_API_KEY (X-API-Key)."
)
if not admin_key:
    st.info("Enter the admin key to manage documents.")
    st.stop()

uploaded = st.file_uploader("Add a document", type=["md", "txt", "pdf"])
if st.button("Upload", disabled=uploaded is None) and uploaded is not None:
    try:
        with st.spinner(f"Indexing {uploaded.name}…"):
            result = client.upload_document(admin_key, uploaded.name, uploaded.getvalue())
    except ApiError as exc:
        show_error(exc)
    else:
        if result["changed"]:
            st.success(f"{result['source']}: {result['chunks']} chunks ({result['chunks_added']} new).")
        else:
            st.info(f"{result['source']} is already indexed as it is: nothing changed.")

documents = fetch(lambda: client.documents(admin_key))
if documents is None:
    st.stop()
st.subheader(f"{len(documents)} indexed documents")
if not documents:
    st.write("Nothing is indexed yet.")
    st.stop()
table = pd.DataFrame(documents)[["source", "chunks", "size_bytes", "added_at", "uploaded", "document_id"]]
st.dataframe(table, hide_index=True, use_container_width=True)

by_label = {f"{d['source']} ({d['chunks']} chunks)": d for d in documents}
choice = st.selectbox("Remove a document", list(by_label), index=None, placeholder="Choose a document")
if choice is not None and st.button("Remove", type="primary"):
    doc = by_label[choice]
    try:
        client.delete_document(admin_key, doc["document_id"])
    except ApiError as exc:
        show_error(exc)
    else:
        st.success(f"{doc['source']} removed: it is no longer retrieved nor cited.")
        st.rerun()
