//! Every failure a user can cause, with what to do about it.

use crate::python::PythonError as InterpreterError;
use crate::venv_layer::VenvError;
use indoc::formatdoc;

#[derive(Debug)]
pub(crate) enum PythonError {
    Python(InterpreterError),
    Venv(VenvError),
}

impl From<PythonError> for libcnb::Error<PythonError> {
    fn from(error: PythonError) -> Self {
        Self::BuildpackError(error)
    }
}

impl std::fmt::Display for PythonError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let message = match self {
            PythonError::Python(InterpreterError::Missing { path, error }) => formatdoc! {"
                The stack has no Python at {path}: {error}

                jobwrap/python uses the stack's own python3. Build with jobwrap/builder-offline
                (its stack has python3, python3-venv and python3-pip), or with jobwrap/builder.
            ", path = path.display()},
            PythonError::Python(InterpreterError::Broken { path, output }) => formatdoc! {"
                {path} does not work as Python 3: {output}

                The stack image is broken; recreate it with scripts/setup.
            ", path = path.display()},
            PythonError::Venv(VenvError::Hash(error)) => formatdoc! {"
                requirements.txt or vendor/ cannot be read: {error}

                Make them readable files in the project.
            "},
            PythonError::Venv(VenvError::Create { command, error }) => formatdoc! {"
                Creating the virtual environment failed ({error}): {command}

                The stack needs python3-venv; recreate it with scripts/setup.
            "},
            PythonError::Venv(VenvError::Install { command, status }) => formatdoc! {"
                Installing requirements.txt failed ({status}): {command}

                pip's output above says which requirement failed. Check its name and version.
                When the build has no network, every requirement (and its dependencies) must
                be in vendor/ as a wheel: `pip download -d vendor -r requirements.txt
                --only-binary=:all:` on a machine with access to the package index.
            "},
        };
        f.write_str(&message)
    }
}
