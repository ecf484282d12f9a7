"""Media processing for uploaded clips: probing, validation, transcoding and thumbnails."""
