"""The HTML login: Django's LoginView with ``LoginForm`` (throttles and lockout)."""

from django.contrib.auth import views as auth_views

from imprimatur.accounts.forms import LoginForm


class LoginView(auth_views.LoginView):
    """A refused attempt answers 429 (throttled, with Retry-After) or 403 (locked) with the
    form and its message; a wrong password answers 200 with Django's message, as before."""

    authentication_form = LoginForm
    redirect_authenticated_user = True

    def form_invalid(self, form):
        response = super().form_invalid(form)
        if form.refusal:
            response.status_code = 429 if form.refusal == "throttled" else 403
            if form.retry_after:
                response["Retry-After"] = str(form.retry_after)
        return response
