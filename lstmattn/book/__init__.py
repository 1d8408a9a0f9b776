"""The companion book: chapter parameters (:mod:`.parameters`), executing the chapters
(:mod:`.build`) and rendering the offline site (:mod:`.site`).

Chapters open themselves with ``chapter = open_chapter(chapter_parameters)``.
"""

from lstmattn.book.parameters import ONE_SHOT, Chapter, ChapterParameters, open_chapter

__all__ = ["ONE_SHOT", "Chapter", "ChapterParameters", "open_chapter"]
