"""Django's login form, with the throttles and the lockout checked before the password."""

from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.utils import timezone

from imprimatur.accounts.services import password_login
from imprimatur.errors import AccountLocked, LoginThrottled


class LoginForm(AuthenticationForm):
    """``refusal`` says why a valid-looking form was refused unchecked ("throttled" or
    "locked"), ``retry_after`` in how many seconds a try may succeed (None: not by waiting)."""

    refusal: str = ""
    retry_after: int | None = None

    def clean(self):
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if username is not None and password:
            try:
                self.user_cache = password_login(
                    request=self.request, username=username, password=password
                )
            except LoginThrottled as error:
                self.refusal, self.retry_after = "throttled", error.retry_after
                raise ValidationError(str(error), code="throttled") from None
            except AccountLocked as error:
                self.refusal = "locked"
                if error.until is not None:
                    self.retry_after = max(1, int((error.until - timezone.now()).total_seconds()))
                raise ValidationError(str(error), code="locked") from None
            if self.user_cache is None:
                raise self.get_invalid_login_error()
            self.confirm_login_allowed(self.user_cache)
        return self.cleaned_data
