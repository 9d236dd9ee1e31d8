"""The galleries' parts of the pages: the project page's grid and the thumbnail files."""

from django.http import FileResponse, Http404
from django.utils.cache import patch_cache_control
from django.utils.http import urlencode

from generation.jobs import gallery, selectors
from generation.jobs.thumbnails import thumbnail_ensure
from imprimatur.downloads import file_download

#: A thumbnail never changes once made; the browser may keep it (privately: each request
#: for it still passes the permission check when the browser asks again).
THUMBNAIL_MAX_AGE = 365 * 24 * 3600


@file_download
def asset_thumbnail(request, pk: int):
    """An image's thumbnail (WebP), for those who may have its image: the same rules, a
    quarantined one included (404 to those who may not see it)."""
    asset = selectors.asset_file_get(user=request.user, pk=pk)
    try:
        asset = thumbnail_ensure(asset)
    except FileNotFoundError:  # an older image whose file is gone: nothing to make it from
        raise Http404("No such image.") from None
    response = FileResponse(asset.thumbnail.open("rb"), content_type="image/webp")
    patch_cache_control(response, private=True, max_age=THUMBNAIL_MAX_AGE, immutable=True)
    return response


def gallery_context(request, project, *, sees_quarantined=None) -> dict:
    """What ``jobs/_gallery.html`` needs: one page of images, the filters, the next link."""
    filters = gallery.GalleryFilters.from_query(request.GET)
    after = request.GET.get("after", "")
    assets, next_cursor = gallery.gallery_page(
        user=request.user, project=project, filters=filters, after=after, sees=sees_quarantined
    )
    base = {"organization": project.organization.slug, **filters.query()}
    return {
        "gallery_assets": assets,
        "gallery_filters": filters,
        "gallery_choices": gallery.gallery_choices(project=project),
        "gallery_is_first_page": not after,
        "gallery_first_url": "?" + urlencode(base) + "#gallery",
        "gallery_next_url": (
            "?" + urlencode({**base, "after": next_cursor}) + "#gallery" if next_cursor else ""
        ),
    }
