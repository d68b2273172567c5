"""Operations: what the pipeline and chat spent (`/api/usage`) and the runs behind it (`/api/jobs`)."""
